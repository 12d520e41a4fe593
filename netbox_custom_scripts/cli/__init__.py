"""
The command line (`netbox custom_scripts ...`) as importable functions: the management command is a thin layer over
them. arguments: the parser; commands: one function per subcommand; lookups: users, scripts, runs and --data;
output: printing runs; errors: exit statuses.
"""
