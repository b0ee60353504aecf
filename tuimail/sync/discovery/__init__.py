"""Finding an account's servers: autoconfig, DNS and probes."""
