"""stemunet: a 2-D U-Net that splits music into drums, bass, other and vocals."""

__version__ = "0.1.0"
