"""scanpay's tests, a package: helpers are imported by their package path (tests.console.console_stack)."""
