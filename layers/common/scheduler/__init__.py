"""Recurring workflow scheduler: the package shared by every Lambda function (the common layer)."""
