"""Networks: the task learner, the Ranker, the conditional VAE and the discriminator."""

from tavaal_nb.models.discriminator import Discriminator
from tavaal_nb.models.gcn import SequentialGCN, affinity_adjacency
from tavaal_nb.models.ranker import LossPredictionModule
from tavaal_nb.models.resnet import BasicBlock, ResNet18
from tavaal_nb.models.vae import ConditionalVAE

__all__ = ["BasicBlock", "ResNet18", "LossPredictionModule", "ConditionalVAE", "Discriminator", "SequentialGCN",
           "affinity_adjacency"]
