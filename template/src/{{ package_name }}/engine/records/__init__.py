"""Run records: the folder every run writes, and what it says about the run.

``folders`` (one folder per run, locked while a process trains in it), ``run`` (config,
command line, versions, git commit, resumes and the summary) and ``metrics`` (``metrics.jsonl``
and the learning curve).
"""
