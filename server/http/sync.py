"""Sync routes: pull (and push, receipts)."""

ROUTES: list = []
