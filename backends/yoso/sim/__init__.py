"""Discrete-event simulation of a YOSO deployment: event core, network-on-chip, PE cores."""
