"""The browser pages: thin views over portal.access and the services, one module per area."""
