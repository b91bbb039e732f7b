"""Tests of reporting-rollups."""
