"""referral: closed-loop referrals and station capacity (DESIGN.md §4)."""
