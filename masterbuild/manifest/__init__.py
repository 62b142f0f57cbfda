"""The album manifest: models, loading and validation."""

from masterbuild.manifest.load import LoadedAlbum, SourceInfo, find_manifest, load_album
from masterbuild.manifest.models import Format, Manifest, Track

__all__ = [
    "Format",
    "LoadedAlbum",
    "Manifest",
    "SourceInfo",
    "Track",
    "find_manifest",
    "load_album",
]
