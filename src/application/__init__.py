"""Use cases of reporting rollups, written against the ports in `application.ports`."""
