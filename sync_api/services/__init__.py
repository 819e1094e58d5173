"""Business logic of the API, without Flask: views, CLI commands and tests
call the same functions with a SQLAlchemy session or connection."""
