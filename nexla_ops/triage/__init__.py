"""Triage: what is broken right now, why, and what to do next (read-only).

evidence reads the account in bulk, findings judges and ranks flows, details reads more about
the failing ones only, advice turns what was found into next steps, compare sets a flow's last
good run against its last failed one, and report renders all of it.
"""
