"""One module per study: what it reports, what the reconstruction assumes, and ``build``.

Each module exposes ``build(ev: StudyEvidence) -> StudyBuild`` and lists its assumptions in
``ASSUMPTIONS`` (also returned in the build), so every study-specific modelling decision is
written next to the code that makes it.
"""
