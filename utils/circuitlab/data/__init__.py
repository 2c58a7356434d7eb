"""Data generators: the offline text corpus, repeated tokens, IOI prompts, modular addition, toy features."""
