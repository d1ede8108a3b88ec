"""Owns local stand-ins for external services (Alpaca, SEC EDGAR servers on 127.0.0.1) and their sample data."""
