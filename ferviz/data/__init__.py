"""The faces and their labels: FER2013 in its three forms and other folder datasets (``splits``,
``readers``), Microsoft's FER+ votes (``ferplus``), exact and near copies across splits
(``duplicates``) and five landmarks per face (``landmarks``)."""
