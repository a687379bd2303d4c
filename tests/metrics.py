"""Reading a Prometheus scrape as a scraper does: samples by name and labels, through prometheus_client's parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(text: str, name: str, **labels: str) -> float | None:
    """The sum of the samples named `name` whose labels include `labels` (as `sum(name{labels})` reads);
    None when there is none."""
    found = [s.value for s in samples(text) if s.name == name and labels.items() <= s.labels.items()]
    return sum(found) if found else None
