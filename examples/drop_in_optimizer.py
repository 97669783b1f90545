"""descent's optimizers and schedules in a plain PyTorch loop: no descent trainer, just torch.

Trains a small MLP on scikit-learn's digits with Nesterov momentum written in the notes' look-ahead form and a
step decay, then prints the test accuracy.

    python examples/drop_in_optimizer.py
"""

import torch
from torch import nn

from descent import data
from descent.optim import Nesterov
from descent.schedules import LRSchedule, step_decay

torch.manual_seed(0)
splits = data.load("digits", seed=0)
x, y = splits.train
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

optimizer = Nesterov(model.parameters(), lr=0.05, momentum=0.9)
schedule = LRSchedule(optimizer, step_decay(0.05, every=10, factor=0.5))   # t counts epochs here

for epoch in range(30):
    for idx in torch.randperm(len(x)).split(64):
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    schedule.step()

with torch.no_grad():
    accuracy = (model(splits.test[0]).argmax(1) == splits.test[1]).float().mean().item()
print(f"lr after 30 epochs: {optimizer.param_groups[0]['lr']:.5f}   test accuracy: {accuracy:.4f}")
