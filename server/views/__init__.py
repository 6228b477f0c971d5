"""HTTP views, one module per area."""
