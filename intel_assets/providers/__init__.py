"""Clients of outside data providers (SEC EDGAR); resources/ wraps them for runs."""
