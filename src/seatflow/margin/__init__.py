"""The margin report (SPEC §16): Microsoft's cost beside seatflow's revenue, and the leaks."""
