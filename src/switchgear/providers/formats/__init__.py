"""Wire-format modules, one per upstream dialect; see ``base.py`` for the protocol."""
