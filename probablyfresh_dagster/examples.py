"""How a report names what it counts: the first `EXAMPLES_SHOWN`, never all of them, so logs,
check descriptions and asset metadata stay the same size however many records there are."""

EXAMPLES_SHOWN = 10
