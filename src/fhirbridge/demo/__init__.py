"""Realistic Swedish demo data: patients with their contracts, care teams and goals."""
