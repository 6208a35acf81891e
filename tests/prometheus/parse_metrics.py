"""Parses an OpenMetrics exposition with the official Prometheus client's parser (strict:
names, types, units, histogram buckets, `# EOF`) and prints its families as JSON:
[{"name", "type", "unit", "samples": [{"name", "labels", "value"}]}].

    python parse_metrics.py FILE      exit 1 with the parser's message if FILE does not parse
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        families = [
            {
                "name": family.name,
                "type": family.type,
                "unit": family.unit,
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": s.value}
                    for s in family.samples
                ],
            }
            for family in text_string_to_metric_families(text)
        ]
    except ValueError as e:
        print(f"not valid OpenMetrics: {e}", file=sys.stderr)
        return 1
    json.dump(families, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
