"""Jobs: any registered command run as a background process the server can see and stop.

``runner`` owns the queue (rows in the store), the concurrency slots, the lifecycle, progress
and retention; an executor (``executor.Executor``; ``local`` runs subprocesses) only starts,
watches and stops processes; ``logs`` reads a job's log file (``output``, text, SSE).
Nothing here is imported by the job's own process except ``wrapper``, which stays stdlib-only.
"""
