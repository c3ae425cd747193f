"""Runtime: the running bot's wiring, worker loops and scheduler."""
