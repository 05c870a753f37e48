"""The load run (``python -m benchmarks.load_run``): many browser sessions on one real server.

``config`` what a run does; ``server`` the app under load and its log; ``process_stats`` CPU and
memory from /proc; ``page_scripts`` what runs inside the pages; ``stats`` what a session
measured; ``session`` one browser session doing what a person would; ``recorder`` the server's
samples over time; ``run`` the whole run; ``report`` its summary table.
"""
