"""The unit tier: pure functions, models, the store on a tmp dir, templating, price and retry
tables, drawing. No process, no network socket, no Dagster: tests/helpers/purity.py fails any test
that tries."""

from tests.helpers.purity import unit_tier_purity  # noqa: F401
