"""Training and fine-tuning: synthetic paired scenes, datasets, losses, trainers, run folders, background jobs.

Nothing here imports streamlit; the training page and `python -m core train` call the same functions.
"""
