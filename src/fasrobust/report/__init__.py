"""Report stage: tables, figures and the HTML report with its adversarial gallery, rendered from
the results store only."""
