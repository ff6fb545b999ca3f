"""The run layer: everything that runs a training run, and nothing that draws one.

A run is one training job and its directory. This package holds what every front end (the
console, the headless log, a detached background run) shares, with no Textual in it:

  policy.py       when to sample, what to save where, metrics and samples records, the exit report
  session.py      a Trainer driven by one thread, steered by commands between two steps
  protocol.py     the commands a viewer sends and the events a run reports, as JSON lines
  server.py       a detached run: one session behind a Unix socket, any number of viewers
  rundir.py       the run directory's files
  status.py       run.json: what a run is and whether it lives
  metrics.py      metrics.jsonl: a run's loss curves, followed as it appends
  save_target.py  where a checkpoint may be written

The console (tui/app.py and its widgets and screens) reaches a run through tui/links.py.
"""
