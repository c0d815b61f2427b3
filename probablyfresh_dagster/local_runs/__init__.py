"""Care of the runs on this machine (the local profile): dead runs failed, pool waits explained, `make dev` stoppable."""
