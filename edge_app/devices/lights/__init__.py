"""Review light drivers: one file per driver, discovered by ``registry``."""
