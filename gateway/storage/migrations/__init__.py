"""The migration files themselves (``NNNN_name.sql``); see ``gateway.storage.migrator``."""
