"""The five Jingkang services, one folder each: intake, assessment, referral, funding, notification."""
