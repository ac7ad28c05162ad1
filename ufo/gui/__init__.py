"""The web GUI (`ufo gui`): a reconstruction form, the axis view, runs with progress, a slice viewer.

A FastAPI server (`app.py`) over the same engine as `ufo reco` (`engine.py` only adapts it:
form fields, axis-view data; `runs.py`: runs in threads, with cancel, stages and the run's
hints) and a static front-end without a build step.
Needs the `gui` extra: pip install 'ufo[gui]'.
"""
