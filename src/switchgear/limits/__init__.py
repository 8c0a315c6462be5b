"""Budgets and rate limits that hold across processes (see types.py for the contract)."""
