"""The local stack behind `make run`: the whole product on one machine (not deployed)."""
