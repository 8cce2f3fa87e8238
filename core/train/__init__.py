"""Training and fine-tuning: synthetic paired scenes, datasets, losses, trainers, run folders, background jobs.

Nothing here imports streamlit; the training page and `python -m core train` call the same functions. A run of
any task starts from `core.train_dispatch.train` (above this package and core.superres, whose RGTGAN trainer
builds on this one); trainer.py holds the GAN trainers.
"""
