"""ProbablyFresh analytics platform as a Dagster code location."""
