"""Lane hardware at the edge of the process: scanners, review light, staff button."""
