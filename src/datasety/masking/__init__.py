"""Text-prompted segmentation masks (`datasety mask`): SAM 3, SAM 2 with a detector, CLIPSeg."""
