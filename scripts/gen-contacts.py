#!/usr/bin/env python3
"""Writes N generated contacts as a DESIGN §8 CSV to stdout (for benchmarks)."""
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = random.Random(42)
statuses = ["double_opt_in", "single_opt_in_user", "single_opt_in_webform", "none", "opted_out_user"]
countries = ["DE", "FR", "GB", "US", "ES", "IT", "NL", "SE"]
out = sys.stdout
out.write("email,first_name,last_name,country,opt_in_status,legal_basis,consent_date,consent_purposes,lists,tracking_consent,plan\n")
for i in range(n):
    status = rng.choice(statuses)
    consent = status != "none"
    out.write(
        f"user{i}@example{i % 97}.com,First{i},Last{i},{rng.choice(countries)},{status},"
        f"{'consent' if consent else ''},{'2025-03-01' if consent else ''},{'newsletter' if consent else ''},"
        f"newsletter,{'true' if i % 3 == 0 else 'false'},{'pro' if i % 5 == 0 else 'free'}\n"
    )
