"""How much a user may ask of a model in one request: one place for each limit, shared by the
command line, the console's dialogs and the run protocol, so all three say the same thing.

No imports: the protocol (which must not pull in numpy) reads these too.
"""

from __future__ import annotations

# Characters one sample may generate (`charrnn sample --length`, the console's prime dialog,
# the protocol's Sample). A sample is made between two training steps: 10,000 characters
# take tens of milliseconds, and the event that carries it (the prime included, even with
# every character JSON-escaped) stays far under the protocol's 1 MiB line.
MAX_SAMPLE_LENGTH = 10_000

# Characters of a prime text sent to a run (the dialog and the protocol's Sample): read
# through the model before sampling, and carried back in the sample's event.
MAX_PRIME_LENGTH = 10_000

# Characters of a passage `charrnn inspect` (and the console's inspect screen) reads at once.
# Each position keeps every layer's activations and its predictions: measured 2026-12-04 with
# `/usr/bin/time -f %M charrnn inspect CKPT --text-file F` on 1,000 and 20,000 characters,
# 2.4 KB a character for classic on tinyshakespeare, 13 KB for the long preset on kaze, so a
# passage at the limit takes 50 to 250 MB. It holds the longest sample with its prime (`g`
# inspects the latest sample).
MAX_PASSAGE_CHARS = MAX_SAMPLE_LENGTH + MAX_PRIME_LENGTH
