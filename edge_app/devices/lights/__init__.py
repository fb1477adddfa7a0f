"""Review light drivers: one file each, found by ``registry``; their configs live in ``edge_app.config``."""
