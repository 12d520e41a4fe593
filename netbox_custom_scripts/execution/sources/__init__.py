"""
Where script modules come from and how they are registered: module and file names (names), the one registry every
source ends in (registry), the scripts directory (directory), uploads (upload), Data Source files (data_file), what
the two share (prepare), and the copy of uploads in the scripts storage (storage).
"""
