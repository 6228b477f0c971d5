"""scanpay developer and field tools: keygen, build, flash, provision, release (`python -m tools`)."""
