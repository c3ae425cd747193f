"""The domain: reports, acknowledgements, reminders, drills, incidents, boards, directory, accounts."""
